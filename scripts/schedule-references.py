"""Reference σ lists for test/sigma-schedules.test.ts, computed apart from sdlite's TypeScript.

numpy/scipy transcriptions (float64) of k-diffusion's k_diffusion/sampling.py get_sigmas_* and
external.py DiscreteSchedule, and of AUTOMATIC1111's modules/sd_schedulers.py, on SD1.5's training
table (scaled_linear betas 0.00085 .. 0.012, 1000 steps, float32 as torch builds it).
Run: python3 scripts/schedule-references.py  (numpy and scipy; no torch needed).
"""
import json
import math

import numpy as np
from scipy import stats

betas = np.linspace(0.00085**0.5, 0.012**0.5, 1000, dtype=np.float32) ** 2
alphas_cumprod = np.cumprod((1.0 - betas).astype(np.float64)).astype(np.float32)  # float32 alphas, double accumulator, as torch.cumprod
sigmas = (((1 - alphas_cumprod) / alphas_cumprod) ** 0.5).astype(np.float32)
log_sigmas = np.log(sigmas.astype(np.float64))
sigma_min, sigma_max = float(sigmas[0]), float(sigmas[-1])


def append_zero(x):
    return [float(v) for v in x] + [0.0]


def sigma_to_t(sigma):  # DiscreteSchedule.sigma_to_t, quantize=False
    log_sigma = math.log(sigma)
    dists = log_sigma - log_sigmas
    low_idx = min(int(np.cumsum(dists >= 0).argmax()), len(log_sigmas) - 2)
    low, high = log_sigmas[low_idx], log_sigmas[low_idx + 1]
    w = min(max((low - log_sigma) / (low - high), 0.0), 1.0)
    return (1 - w) * low_idx + w * (low_idx + 1)


def t_to_sigma(t):  # DiscreteSchedule.t_to_sigma
    low, high, w = math.floor(t), math.ceil(t), t - math.floor(t)
    return math.exp((1 - w) * log_sigmas[low] + w * log_sigmas[high])


def karras(n, rho=7.0):
    ramp = np.linspace(0, 1, n)
    return append_zero((sigma_max ** (1 / rho) + ramp * (sigma_min ** (1 / rho) - sigma_max ** (1 / rho))) ** rho)


def exponential(n):
    return append_zero(np.exp(np.linspace(math.log(sigma_max), math.log(sigma_min), n)))


def polyexponential(n, rho):
    ramp = np.linspace(1, 0, n) ** rho
    return append_zero(np.exp(ramp * (math.log(sigma_max) - math.log(sigma_min)) + math.log(sigma_min)))


def kl_optimal(n):
    i = np.arange(n + 1)
    return [float(v) for v in np.tan(i / n * math.atan(sigma_min) + (1.0 - i / n) * math.atan(sigma_max))]


AYS_SD15 = [14.615, 6.475, 3.861, 2.697, 1.886, 1.396, 0.963, 0.652, 0.399, 0.152, 0.029]


def align_your_steps(n):
    if n == len(AYS_SD15):
        return AYS_SD15 + [0.0]
    xs = np.linspace(0, 1, len(AYS_SD15))
    ys = np.log(AYS_SD15[::-1])
    return append_zero(np.exp(np.interp(np.linspace(0, 1, n), xs, ys))[::-1])


def beta(n, a=0.6, b=0.6):
    ts = [stats.beta.ppf(x, a, b) for x in 1 - np.linspace(0, 1, n)]
    return append_zero([sigma_min + x * (sigma_max - sigma_min) for x in ts])


def uniform(n):
    return append_zero([t_to_sigma(t) for t in np.linspace(len(sigmas) - 1, 0, n)])


def normal(n, sgm=False):
    start, end = sigma_to_t(sigma_max), sigma_to_t(sigma_min)
    ts = np.linspace(start, end, n + 1)[:-1] if sgm else np.linspace(start, end, n)
    return append_zero([t_to_sigma(t) for t in ts])


def simple(n):
    ss = len(sigmas) / n
    return append_zero([sigmas[-(1 + int(x * ss))] for x in range(n)])


def ddim(n):
    ss = max(len(sigmas) // n, 1)
    return append_zero([sigmas[x] for x in range(1, len(sigmas), ss)][::-1])


out = {
    "sigma_min": sigma_min,
    "sigma_max": sigma_max,
    "karras_4": karras(4),
    "exponential_4": exponential(4),
    "polyexponential_5_rho2": polyexponential(5, 2.0),
    "kl_optimal_4": kl_optimal(4),
    "align_your_steps_4": align_your_steps(4),
    "align_your_steps_11": align_your_steps(11),
    "beta_5": beta(5),
    "uniform_5": uniform(5),
    "sgm_uniform_4": normal(4, sgm=True),
    "normal_3": normal(3),
    "simple_3": simple(3),
    "ddim_7": ddim(7),
}
for key, value in out.items():
    print(f"  {key}: {json.dumps(value)},")
