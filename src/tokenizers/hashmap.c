/* hashmap.c — open-addressing maps for token lookup and BPE merge ranks. */
#include "tokenizers/hashmap.h"

#include <stdlib.h>
#include <string.h>

static size_t capacity_for(size_t expected) {
    size_t cap = 16;
    while (cap < expected * 2 + 1) cap *= 2; /* load factor stays under 1/2 */
    return cap;
}

/* FNV-1a, then a final mix so that the low bits used for the slot depend on every byte. */
static uint64_t hash_bytes(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    h ^= h >> 32;
    return h;
}

static uint64_t hash_u64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

int slm_str_map_init(slm_str_map *map, size_t expected) {
    map->cap = capacity_for(expected);
    map->count = 0;
    map->slots = calloc(map->cap, sizeof *map->slots);
    return map->slots ? 0 : -1;
}

static int str_map_grow(slm_str_map *map) {
    slm_str_map bigger;
    bigger.cap = map->cap * 2;
    bigger.count = 0;
    bigger.slots = calloc(bigger.cap, sizeof *bigger.slots);
    if (!bigger.slots) return -1;
    for (size_t i = 0; i < map->cap; i++) {
        const slm_str_map_slot *s = &map->slots[i];
        if (s->key) slm_str_map_put(&bigger, s->key, s->len, s->value);
    }
    free(map->slots);
    *map = bigger;
    return 0;
}

int slm_str_map_put(slm_str_map *map, const char *key, size_t len, int32_t value) {
    if ((map->count + 1) * 2 > map->cap && str_map_grow(map) != 0) return -1;
    size_t mask = map->cap - 1;
    for (size_t i = hash_bytes(key, len) & mask;; i = (i + 1) & mask) {
        slm_str_map_slot *s = &map->slots[i];
        if (!s->key) {
            s->key = key;
            s->len = (uint32_t)len;
            s->value = value;
            map->count++;
            return 0;
        }
        if (s->len == len && memcmp(s->key, key, len) == 0) {
            s->value = value;
            return 0;
        }
    }
}

int32_t slm_str_map_get(const slm_str_map *map, const char *key, size_t len) {
    if (!map->slots) return -1;
    size_t mask = map->cap - 1;
    for (size_t i = hash_bytes(key, len) & mask;; i = (i + 1) & mask) {
        const slm_str_map_slot *s = &map->slots[i];
        if (!s->key) return -1;
        if (s->len == len && memcmp(s->key, key, len) == 0) return s->value;
    }
}

void slm_str_map_free(slm_str_map *map) {
    free(map->slots);
    map->slots = NULL;
    map->cap = map->count = 0;
}

static uint64_t pair_key(int32_t left, int32_t right) {
    return ((uint64_t)(uint32_t)left << 32) | (uint32_t)right;
}

int slm_pair_map_init(slm_pair_map *map, size_t expected) {
    map->cap = capacity_for(expected);
    map->count = 0;
    map->slots = malloc(map->cap * sizeof *map->slots);
    if (!map->slots) return -1;
    for (size_t i = 0; i < map->cap; i++) map->slots[i].key = UINT64_MAX;
    return 0;
}

static int pair_map_grow(slm_pair_map *map) {
    slm_pair_map bigger;
    if (slm_pair_map_init(&bigger, map->cap) != 0) return -1;
    for (size_t i = 0; i < map->cap; i++) {
        const slm_pair_map_slot *s = &map->slots[i];
        if (s->key != UINT64_MAX)
            slm_pair_map_put(&bigger, (int32_t)(s->key >> 32), (int32_t)(uint32_t)s->key, s->rank, s->merged);
    }
    free(map->slots);
    *map = bigger;
    return 0;
}

int slm_pair_map_put(slm_pair_map *map, int32_t left, int32_t right, int32_t rank, int32_t merged) {
    if ((map->count + 1) * 2 > map->cap && pair_map_grow(map) != 0) return -1;
    uint64_t key = pair_key(left, right);
    size_t mask = map->cap - 1;
    for (size_t i = hash_u64(key) & mask;; i = (i + 1) & mask) {
        slm_pair_map_slot *s = &map->slots[i];
        if (s->key == UINT64_MAX) {
            s->key = key;
            s->rank = rank;
            s->merged = merged;
            map->count++;
            return 0;
        }
        if (s->key == key) {
            s->rank = rank;
            s->merged = merged;
            return 0;
        }
    }
}

const slm_pair_map_slot *slm_pair_map_get(const slm_pair_map *map, int32_t left, int32_t right) {
    if (!map->slots) return NULL;
    uint64_t key = pair_key(left, right);
    size_t mask = map->cap - 1;
    for (size_t i = hash_u64(key) & mask;; i = (i + 1) & mask) {
        const slm_pair_map_slot *s = &map->slots[i];
        if (s->key == UINT64_MAX) return NULL;
        if (s->key == key) return s;
    }
}

static int by_rank(const void *a, const void *b) {
    int32_t x = ((const slm_pair_map_slot *)a)->rank, y = ((const slm_pair_map_slot *)b)->rank;
    return (x > y) - (x < y);
}

slm_pair_map_slot *slm_pair_map_by_rank(const slm_pair_map *map, size_t *n) {
    slm_pair_map_slot *sorted = malloc((map->count ? map->count : 1) * sizeof *sorted);
    *n = 0;
    if (!sorted) return NULL;
    for (size_t i = 0; i < map->cap; i++)
        if (map->slots[i].key != UINT64_MAX) sorted[(*n)++] = map->slots[i];
    qsort(sorted, *n, sizeof *sorted, by_rank);
    return sorted;
}

void slm_pair_map_free(slm_pair_map *map) {
    free(map->slots);
    map->slots = NULL;
    map->cap = map->count = 0;
}
