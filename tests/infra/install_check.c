/* Compiled by install_test.sh against an installed (staged) libvae, with
 * nothing but `pkg-config --cflags --libs vae`: creates a tiny model, takes
 * a few training steps on synthetic rows and prints the version. */
#include <stdio.h>
#include <string.h>

#include <libvae/vae.h>

#define N 8
#define D 16

int main(void)
{
    float x[N * D];
    for (int i = 0; i < N; i++)
        for (int j = 0; j < D; j++)
            x[i * D + j] = (float)((i + j) % 3 == 0);

    if (strcmp(vae_version_string(), VAE_VERSION_STRING) != 0 ||
        vae_version_number() != VAE_VERSION_NUMBER) {
        fprintf(stderr, "header version %s but library version %s\n", VAE_VERSION_STRING,
                vae_version_string());
        return 1;
    }

    vae_model_config cfg;
    vae_model_config_init(&cfg);
    cfg.input_dim = D;
    cfg.n_hidden = 1;
    cfg.hidden[0] = 8;
    cfg.latent_dim = 2;
    vae_optimizer_config ocfg;
    vae_optimizer_config_init(&ocfg, VAE_OPT_ADAM);

    vae_model *model = NULL;
    vae_optimizer *opt = NULL;
    vae_error err;
    if (vae_model_create(&cfg, &model, &err) != VAE_OK) {
        fprintf(stderr, "vae_model_create: %s\n", err.message);
        return 1;
    }
    if (vae_optimizer_create(&ocfg, &opt, &err) != VAE_OK) {
        fprintf(stderr, "vae_optimizer_create: %s\n", err.message);
        vae_model_free(model);
        return 1;
    }
    int status = 0;
    vae_elbo_stats st = {0};
    for (int step = 0; step < 3 && status == 0; step++) {
        int rc = vae_model_train_step(model, opt, x, N, &st);
        if (rc != VAE_OK) {
            fprintf(stderr, "vae_model_train_step: %s: %s\n", vae_status_str(rc),
                    vae_model_errmsg(model));
            status = 1;
        }
    }
    if (status == 0 && (st.n != N || !(st.elbo < 0) || vae_optimizer_steps(opt) != 3)) {
        fprintf(stderr, "unexpected stats: n %zu elbo %g steps %llu\n", st.n, st.elbo,
                (unsigned long long)vae_optimizer_steps(opt));
        status = 1;
    }
    if (status == 0)
        printf("libvae %s: %zu parameters, elbo %.3f after 3 steps\n", vae_version_string(),
               vae_model_param_count(model), st.elbo);
    vae_optimizer_free(opt);
    vae_model_free(model);
    return status;
}
