"""`proto3d experiment classify|partseg`: the paper's two experiments on a proto3d dataset.

Everything here but `metrics` needs the `[train]` extra (torch, torchvision, open_clip_torch);
the command imports it only when run.
"""
