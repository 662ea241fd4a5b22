/* served_model.c — what the server keeps beside each loaded model: the name clients
 * use, the slot context, the chat template and its special-token strings (from
 * tokenizer_config.json, which is where transformers reads them), and the session
 * encoder requests share. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"
#include "models/model.h"
#include "server/scheduler.h"

srv_config srv_default_config(void) {
    srv_config c = {"127.0.0.1", 8080, NULL, 4, 0, 0, 64, (size_t)4 << 20, 64, 8, 4096};
    return c;
}

/* A special token in tokenizer_config.json: a string, or {"content": "..."} (AddedToken). */
static char *token_string(const json_t *v) {
    if (json_is_object(v)) v = json_object_get(v, "content");
    return json_is_string(v) ? strdup(json_string_value(v)) : NULL;
}

/* chat_template: a string, or a list of {name, template} where "default" is the one to use. */
static const char *template_source(const json_t *v) {
    if (json_is_string(v)) return json_string_value(v);
    size_t i;
    json_t *item;
    json_array_foreach(v, i, item) {
        const char *name = json_string_value(json_object_get(item, "name"));
        if (name && !strcmp(name, "default")) return json_string_value(json_object_get(item, "template"));
    }
    return NULL;
}

static slm_status load_chat_template(srv_model *m, slm_error *err) {
    char path[4300];
    snprintf(path, sizeof path, "%s/tokenizer_config.json", slm_model_dir(m->model));
    json_t *cfg = json_load_file(path, 0, NULL); /* absent: the plain template */
    const char *source = template_source(json_object_get(cfg, "chat_template"));
    m->bos_token = token_string(json_object_get(cfg, "bos_token"));
    m->eos_token = token_string(json_object_get(cfg, "eos_token"));
    const slm_tokenizer *tok = slm_model_tokenizer(m->model);
    if (!m->bos_token && tok && slm_model_bos(m->model) >= 0 && slm_token_text(tok, slm_model_bos(m->model)))
        m->bos_token = strdup(slm_token_text(tok, slm_model_bos(m->model)));
    if (!m->eos_token && tok && slm_tokenizer_eos(tok) >= 0 && slm_token_text(tok, slm_tokenizer_eos(tok)))
        m->eos_token = strdup(slm_token_text(tok, slm_tokenizer_eos(tok)));
    char message[512];
    m->has_own_template = source != NULL;
    m->chat_template = srv_template_parse(source ? source : srv_plain_chat_template, message, sizeof message);
    json_decref(cfg);
    if (!m->chat_template) return slm_fail(err, SLM_ERR_FORMAT, "%s: %s", path, message);
    return SLM_OK;
}

slm_status srv_model_init(srv_model *m, const char *name, slm_model *model, const srv_config *config,
                          slm_error *err) {
    memset(m, 0, sizeof *m);
    snprintf(m->name, sizeof m->name, "%s", name);
    m->model = model;
    m->is_encoder = slm_model_is_encoder(model);
    m->created = (long)time(NULL);
    pthread_mutex_init(&m->encoder_lock, NULL);
    if (m->is_encoder) {
        slm_session_params sp = slm_session_default_params();
        sp.n_threads = config->threads;
        m->encoder_session = slm_session_new(model, &sp, err);
        return m->encoder_session ? SLM_OK : err->status;
    }
    int n_ctx = slm_model_get_info(model).n_ctx_train;
    m->n_ctx = config->n_ctx > 0 && config->n_ctx < n_ctx ? config->n_ctx : n_ctx < 4096 ? n_ctx : 4096;
    return load_chat_template(m, err);
}

void srv_model_free(srv_model *m) {
    srv_scheduler_free(m->scheduler);
    srv_template_free(m->chat_template);
    free(m->bos_token);
    free(m->eos_token);
    slm_session_free(m->encoder_session);
    pthread_mutex_destroy(&m->encoder_lock);
    slm_model_free(m->model);
    memset(m, 0, sizeof *m);
}
