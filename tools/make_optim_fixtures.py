#!/usr/bin/python3
"""Prints reference trajectories from PyTorch's optimizers and lr schedulers for
tests/test_optim.cpp and tests/test_lr_schedule.cpp, which hard-code the printed numbers
(CI has no PyTorch). Run with /usr/bin/python3 (PyTorch 1.13); the inputs here must match
the tests' inputs."""
import torch

PARAM = [0.5, -1.25, 2.0, 0.0, -0.75, 3.0]  # shape (2, 3)
GRADS = [  # one gradient per step
    [0.1, -0.2, 0.3, -0.4, 0.5, -0.6],
    [-1.0, 0.5, 0.25, 2.0, -0.125, 0.0],
    [0.3, 0.3, -0.3, -0.3, 1e-3, 4.0],
]


def fmt(values):
    return ", ".join("%.9g" % v for v in values)


def trajectory(name, make_optimizer, skip_second_of=None):
    """Three steps; `skip_second_of` names a second parameter whose grad is None at step 2."""
    p = torch.tensor(PARAM, dtype=torch.float32).reshape(2, 3).requires_grad_()
    q = torch.tensor([1.0, -2.0], dtype=torch.float32).requires_grad_()
    opt = make_optimizer([p, q])
    for step, g in enumerate(GRADS, 1):
        p.grad = torch.tensor(g, dtype=torch.float32).reshape(2, 3)
        q.grad = None if step == 2 else torch.tensor([g[0], g[5]], dtype=torch.float32)
        opt.step()
        print("%s step %d p: %s" % (name, step, fmt(p.detach().flatten().tolist())))
        print("%s step %d q: %s" % (name, step, fmt(q.detach().tolist())))


def lr_sequence(name, make_scheduler, steps, metrics=None, lr=0.1):
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
    sched = make_scheduler(opt)
    lrs = [opt.param_groups[0]["lr"]]
    for i in range(steps):
        opt.step()
        if metrics is None:
            sched.step()
        else:
            # A float32 tensor, as a loss is, and as the C++ side's float metric.
            sched.step(torch.tensor(metrics[i], dtype=torch.float32))
        lrs.append(opt.param_groups[0]["lr"])
    print("%s: %s" % (name, fmt(lrs)))


torch.set_printoptions(precision=9)
trajectory("adam lr=0.1", lambda ps: torch.optim.Adam(ps, lr=0.1))
trajectory("adam lr=0.01 wd=0.1", lambda ps: torch.optim.Adam(ps, lr=0.01, weight_decay=0.1))
trajectory("sgd lr=0.05 momentum=0.9 wd=0.1",
           lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, weight_decay=0.1))
trajectory("sgd lr=0.05", lambda ps: torch.optim.SGD(ps, lr=0.05))

lr_sequence("StepLR(3, 0.5)", lambda o: torch.optim.lr_scheduler.StepLR(o, 3, 0.5), 10)
lr_sequence("ExponentialLR(0.9)", lambda o: torch.optim.lr_scheduler.ExponentialLR(o, 0.9), 5)
lr_sequence("CosineAnnealingLR(10, 0.001)",
            lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, 10, 0.001), 10)
PLATEAU_METRICS = [1.0, 0.9375, 0.9375, 0.875, 0.85] + [0.5] * 15
lr_sequence("ReduceLROnPlateau(factor=0.5, patience=2, threshold=0.0625, min_lr=0.02)",
            lambda o: torch.optim.lr_scheduler.ReduceLROnPlateau(
                o, factor=0.5, patience=2, threshold=0.0625, min_lr=0.02),
            len(PLATEAU_METRICS), PLATEAU_METRICS)
# Below eps: the cut from 1e-8 to 1e-9 changes the lr by less than eps=1e-8, so it is skipped.
lr_sequence("ReduceLROnPlateau(factor=0.1, patience=0) from lr=1e-7",
            lambda o: torch.optim.lr_scheduler.ReduceLROnPlateau(o, factor=0.1, patience=0),
            4, [1.0] * 4, lr=1e-7)
