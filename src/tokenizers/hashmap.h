/* hashmap.h — the two lookups BPE needs to be fast on long texts: token text
 * -> id, and (left id, right id) -> (merge rank, merged id). Open addressing,
 * power-of-two capacity, no deletion. Keys of slm_str_map are not copied: they
 * must outlive the map (they point into the tokenizer's vocabulary). */
#ifndef SLM_TOKENIZERS_HASHMAP_H
#define SLM_TOKENIZERS_HASHMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *key;
    uint32_t len;
    int32_t value;
} slm_str_map_slot;

typedef struct {
    slm_str_map_slot *slots; /* (cap) */
    size_t cap, count;
} slm_str_map;

/* All return 0, or -1 when out of memory. */
int slm_str_map_init(slm_str_map *map, size_t expected);
/* Inserts or replaces key -> value. */
int slm_str_map_put(slm_str_map *map, const char *key, size_t len, int32_t value);
/* The value of key, or -1 when absent. */
int32_t slm_str_map_get(const slm_str_map *map, const char *key, size_t len);
void slm_str_map_free(slm_str_map *map);

typedef struct {
    uint64_t key; /* (left << 32) | right; UINT64_MAX = empty */
    int32_t rank, merged;
} slm_pair_map_slot;

typedef struct {
    slm_pair_map_slot *slots; /* (cap) */
    size_t cap, count;
} slm_pair_map;

int slm_pair_map_init(slm_pair_map *map, size_t expected);
/* Inserts or replaces (left, right) -> (rank, merged): a repeated merge keeps its last rank, as in
 * Hugging Face's BPE (a map built from the merges list in order). */
int slm_pair_map_put(slm_pair_map *map, int32_t left, int32_t right, int32_t rank, int32_t merged);
/* The slot of (left, right), or NULL when absent. */
const slm_pair_map_slot *slm_pair_map_get(const slm_pair_map *map, int32_t left, int32_t right);
/* The occupied slots in rank order (malloc'ed, *n of them; NULL when out of memory). */
slm_pair_map_slot *slm_pair_map_by_rank(const slm_pair_map *map, size_t *n);
void slm_pair_map_free(slm_pair_map *map);

#endif
