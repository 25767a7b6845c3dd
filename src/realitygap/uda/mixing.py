"""What the student of a mean teacher trains on: the teacher's confidence weight, ClassMix masks and images,
the strong photometric augmentation (DACS), and masked-image consistency's block masks (MIC). Pure torch on
batches; random draws come from torch's global generator, so mmengine's seeding and resume cover them."""

from __future__ import annotations

import torch
import torchvision.transforms.v2.functional as TF


def ema_alpha(iteration: int, alpha: float) -> float:
    """The teacher's EMA weight at `iteration` (0-based): `min(1 - 1/(iteration + 1), alpha)`, so the teacher
    is the student's copy at iteration 0 and averages over a growing window until `alpha` caps it."""
    return min(1.0 - 1.0 / (iteration + 1), alpha)


@torch.no_grad()
def update_teacher(teacher: torch.nn.Module, student: torch.nn.Module, alpha: float) -> None:
    """teacher <- alpha * teacher + (1 - alpha) * student, for every parameter and floating buffer (BatchNorm's
    running statistics); integer buffers (batch counters) are copied."""
    for t, s in zip(teacher.parameters(), student.parameters()):
        t.mul_(alpha).add_(s.detach(), alpha=1.0 - alpha)
    for t, s in zip(teacher.buffers(), student.buffers()):
        if t.dtype.is_floating_point:
            t.mul_(alpha).add_(s.detach(), alpha=1.0 - alpha)
        else:
            t.copy_(s)


def confidence_weight(probs: torch.Tensor, threshold: float) -> torch.Tensor:
    """(N,) share of each image's pixels whose top class probability is at least `threshold` (DACS / DAFormer's
    pseudo-label weight, applied to every pixel of the image)."""
    return (probs.amax(1) >= threshold).flatten(1).float().mean(1)


def class_mix_masks(labels: torch.Tensor, ignore_index: int, keep_out: tuple[int, ...] = ()) -> torch.Tensor:
    """(N, H, W) bool ClassMix masks: for each source label map, ceil(k/2) of its k present classes (drawn at
    random; classes in `keep_out` are never drawn nor counted) and the pixels that hold them."""
    masks = torch.zeros_like(labels, dtype=torch.bool)
    for i, label in enumerate(labels):
        present = [int(c) for c in torch.unique(label) if int(c) != ignore_index and int(c) not in keep_out]
        if not present:
            continue
        order = torch.randperm(len(present))[: (len(present) + 1) // 2]
        chosen = torch.tensor([present[j] for j in order.tolist()], device=label.device)
        masks[i] = torch.isin(label, chosen)
    return masks


def paste(masks: torch.Tensor, source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """`source` where `masks` (N, H, W) is set, `target` elsewhere; images (N, C, H, W) or maps (N, H, W)."""
    m = masks.unsqueeze(1) if source.dim() == 4 else masks
    return torch.where(m, source, target)


def strong_augment(images: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, jitter: float = 0.2,
                   jitter_p: float = 0.2, blur_p: float = 0.5, sigma: tuple[float, float] = (0.15, 1.15)) -> torch.Tensor:
    """DACS's strong augmentation of normalised images (N, 3, H, W): per image, with probability `jitter_p`,
    brightness, contrast, saturation and hue jittered by up to `jitter`, and with probability `blur_p` a
    Gaussian blur of sigma drawn from `sigma` (torchvision's ops, on the images in [0, 1])."""
    mean, std = mean.view(1, -1, 1, 1), std.view(1, -1, 1, 1)
    unit = ((images * std + mean) / 255.0).clamp(0, 1)
    out = []
    for img in unit:
        if float(torch.rand(())) < jitter_p:
            factors = 1.0 + (torch.rand(3) * 2 - 1) * jitter
            img = TF.adjust_brightness(img, float(factors[0]))
            img = TF.adjust_contrast(img, float(factors[1]))
            img = TF.adjust_saturation(img, float(factors[2]))
            img = TF.adjust_hue(img, float((torch.rand(()) * 2 - 1) * jitter / 2))
        if float(torch.rand(())) < blur_p:
            s = float(sigma[0] + torch.rand(()) * (sigma[1] - sigma[0]))
            k = 2 * max(1, round(3 * s)) + 1
            img = TF.gaussian_blur(img, [k, k], [s, s])
        out.append(img)
    return (torch.stack(out) * 255.0 - mean) / std


def block_masks(shape: tuple[int, int, int], block: int, ratio: float, device=None) -> torch.Tensor:
    """(N, 1, H, W) float masks of MIC: the image cut into `block`-pixel squares, each dropped (0) with
    probability `ratio`, kept (1) otherwise."""
    n, h, w = shape
    cells = (torch.rand(n, 1, -(-h // block), -(-w // block), device=device) >= ratio).float()
    return cells.repeat_interleave(block, 2).repeat_interleave(block, 3)[..., :h, :w]


def class_shares(labels: torch.Tensor, num_classes: int, ignore_index: int) -> torch.Tensor:
    """(C,) share of each class among the labelled pixels of `labels`."""
    valid = labels[labels != ignore_index]
    counts = torch.bincount(valid.flatten(), minlength=num_classes)[:num_classes].float()
    return counts / counts.sum().clamp(min=1)


def running_mean(current: torch.Tensor, batch: torch.Tensor, momentum: float) -> None:
    """current <- momentum * current + (1 - momentum) * batch, in place; the first batch (current all zero) is taken
    as it is."""
    if current.sum() == 0:
        current.copy_(batch)
    else:
        current.mul_(momentum).add_(batch, alpha=1.0 - momentum)


def align_distribution(probs: torch.Tensor, source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Distribution alignment (ReMixMatch, Berthelot et al. 2020): the class probabilities (N, C, H, W) scaled by
    the source's class shares over the target predictions' running shares (C,), renormalised, so the pseudo-labels
    keep the class proportions of the labelled data instead of drifting to one class."""
    ratio = (source.clamp(min=1e-6) / target.clamp(min=1e-6)).view(1, -1, 1, 1)
    aligned = probs * ratio
    return aligned / aligned.sum(1, keepdim=True)
