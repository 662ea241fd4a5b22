// header_cxx.cpp — proves include/slm.h and include/slm_tasks.h compile as C++ and links against the C library.
#include "slm.h"
#include "slm_tasks.h"

#include <cstdio>
#include <string>

int main() {
    slm_error err;
    slm_model *model = slm_model_load("/nonexistent/model", nullptr, &err);
    int failed = 0;
    if (model != nullptr || err.status != SLM_ERR_IO) failed++;
    slm_generate_params p = slm_generate_default_params();
    if (p.max_tokens <= 0) failed++;
    std::string name = slm_status_name(SLM_ERR_FORMAT);
    if (name.empty()) failed++;
    std::printf("RESULT %d passed, %d failed\n", 3 - failed, failed);
    return failed ? 1 : 0;
}
