/* KL weight schedules and the capacity target; formulas in schedule.h. */
#include "objectives/schedule.h"

double vo_kl_weight(const vae_model_config *c, uint64_t t)
{
    double beta = c->beta;
    switch (c->kl_schedule) {
    case VAE_KL_SCHEDULE_LINEAR: {
        double N = c->kl_warmup_steps;
        return (double)t >= N ? beta : beta * ((double)t / N);
    }
    case VAE_KL_SCHEDULE_CYCLICAL: {
        uint64_t P = (uint64_t)c->kl_cycle_steps;
        if (c->kl_cycles > 0 && t / P >= (uint64_t)c->kl_cycles)
            return beta;
        double tau = (double)(t % P) / (double)P;
        double r = tau / c->kl_cycle_ratio;
        return r >= 1.0 ? beta : beta * r;
    }
    default:
        return beta;
    }
}

double vo_capacity(const vae_model_config *c, uint64_t t)
{
    if (!(c->capacity_gamma > 0.0f))
        return 0.0;
    double N = c->capacity_steps;
    if (N <= 0.0 || (double)t >= N)
        return c->capacity_max;
    return c->capacity_max * ((double)t / N);
}
