# slm — build, test and run. `make run` and `make test` install what they need.
CC      ?= cc
CXX     ?= c++
SAN     ?= 0
BUILD   ?= $(if $(filter 1,$(SAN)),build-san,build)

PKGS    := libpcre2-8 jansson libutf8proc libmicrohttpd
CFLAGS  := -std=c11 -O2 -g -Wall -Wextra -D_GNU_SOURCE -fPIC -pthread -Iinclude -Isrc $(EXTRA_CFLAGS)
LDLIBS  := -lpcre2-8 -ljansson -lutf8proc -lm -pthread
SERVER_LIBS := -lmicrohttpd # the HTTP server (src/server) is part of the slm program, not of libslm
ifeq ($(SAN),1)
CFLAGS  += -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
endif

LIB_SRC  := $(sort $(shell find src -name '*.c' -not -path 'src/cli/*' -not -path 'src/server/*'))
CLI_SRC  := $(sort $(wildcard src/cli/*.c src/server/*.c))
TEST_SRC := $(sort $(wildcard tests/test_*.c))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/%.o)
TESTS    := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%) $(BUILD)/tests/test_header_cxx
SCRIPTS  := $(sort $(wildcard tests/test_*.sh))

.PHONY: all deps run test test-san clean bench interop
all: $(BUILD)/slm $(BUILD)/libslm.a $(BUILD)/libslm.so

# Installs the Debian packages slm builds against, only when pkg-config cannot find them.
deps:
	@missing=""; \
	pkg-config --exists libpcre2-8 || missing="$$missing libpcre2-dev"; \
	pkg-config --exists jansson    || missing="$$missing libjansson-dev"; \
	pkg-config --exists libutf8proc || missing="$$missing libutf8proc-dev"; \
	pkg-config --exists libmicrohttpd || missing="$$missing libmicrohttpd-dev"; \
	command -v pkg-config >/dev/null || missing="pkg-config $$missing"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

$(BUILD)/%.o: %.c | deps
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/libslm.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/libslm.so: $(LIB_OBJ)
	$(CC) -shared $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/slm: $(CLI_OBJ) $(BUILD)/libslm.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(SERVER_LIBS)

$(BUILD)/tests/%: tests/%.c tests/check.h tests/fixture.h tests/tokenizer_fixture.h $(BUILD)/libslm.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libslm.a $(LDFLAGS) $(LDLIBS)

# test_chat_template compiles the server's template sources in (they are not in libslm).
$(BUILD)/tests/test_chat_template: $(wildcard src/server/chat_template*)

# Proves the public header compiles as C++ and links against the C library.
$(BUILD)/tests/test_header_cxx: tests/header_cxx.cpp include/slm.h $(BUILD)/libslm.a
	@mkdir -p $(dir $@)
	$(CXX) -std=c++11 -Wall -Wextra -Iinclude $(filter -fsanitize%,$(CFLAGS)) -o $@ $< $(BUILD)/libslm.a $(LDFLAGS) $(LDLIBS)

test: all $(TESTS)
	@SLM_BIN=$(BUILD)/slm tests/run.sh $(TESTS) $(SCRIPTS)

test-san:
	$(MAKE) SAN=1 test

run: all
	$(BUILD)/slm generate models/stories260K/stories260K.bin "Once upon a time" --max-tokens 200 --temperature 0.8 --top-p 0.9 --seed 42

bench: all
	bench/run.sh

# slm against llama.cpp (node-llama-cpp) on the same GGUF files; downloads node-llama-cpp.
interop: all
	tests/interop/run.sh

clean:
	rm -rf build build-san

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d)
