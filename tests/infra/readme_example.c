/* train.c: fit a VAE to MNIST and save it.
 *   cc train.c $(pkg-config --cflags --libs vae) -o train
 *   ./train ../shared/data/mnist/t10k-images-idx3-ubyte.gz vae.ckpt 10 */
#include <stdio.h>
#include <stdlib.h>

#include <libvae/vae.h>

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s IMAGES.idx[.gz] CHECKPOINT [EPOCHS]\n", argv[0]);
        return 2;
    }
    int epochs = argc > 3 ? atoi(argv[3]) : 10;
    vae_dataset *all = NULL, *train = NULL, *test = NULL;
    vae_model *model = NULL;
    vae_optimizer *opt = NULL;
    vae_error err;
    int status = 1;

    /* 8-bit images scaled to [0,1]; first 9000 train, the rest test. */
    if (vae_dataset_load_idx(argv[1], NULL, NULL, &all, &err) != VAE_OK) {
        fprintf(stderr, "%s: %s\n", vae_status_str(err.status), err.message);
        goto out;
    }
    size_t n = vae_dataset_count(all), n_test = n / 10;
    if (vae_dataset_subset(all, 0, n - n_test, &train, &err) != VAE_OK ||
        vae_dataset_subset(all, n - n_test, n_test, &test, &err) != VAE_OK) {
        fprintf(stderr, "split: %s\n", err.message);
        goto out;
    }

    /* 784-400-20 Bernoulli VAE and Adam(lr 1e-3). */
    vae_model_config cfg;
    vae_model_config_init(&cfg);
    cfg.input_dim = (int)vae_dataset_dim(all);
    cfg.threads = 2;
    vae_optimizer_config ocfg;
    vae_optimizer_config_init(&ocfg, VAE_OPT_ADAM);
    if (vae_model_create(&cfg, &model, &err) != VAE_OK ||
        vae_optimizer_create(&ocfg, &opt, &err) != VAE_OK) {
        fprintf(stderr, "create: %s\n", err.message);
        goto out;
    }

    for (int e = 1; e <= epochs; e++) {
        vae_elbo_stats tr, te;
        if (vae_model_train_epoch(model, opt, train, 100, NULL, NULL, &tr) != VAE_OK ||
            vae_model_evaluate(model, test, 100, &te) != VAE_OK) {
            fprintf(stderr, "epoch %d: %s\n", e, vae_model_errmsg(model));
            goto out;
        }
        printf("epoch %d train_elbo %.2f test_elbo %.2f (rec %.2f kl %.2f) nats\n", e,
               tr.elbo, te.elbo, te.rec, te.kl);
    }

    if (vae_model_save(model, opt, argv[2]) != VAE_OK) {
        fprintf(stderr, "save: %s\n", vae_model_errmsg(model));
        goto out;
    }
    status = 0;
out:
    vae_optimizer_free(opt);
    vae_model_free(model);
    vae_dataset_free(test);
    vae_dataset_free(train);
    vae_dataset_free(all);
    return status;
}
