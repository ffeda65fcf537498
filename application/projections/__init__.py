"""Read models folded from the log (shared kernel): the shape of a projection (`base`), the
read-model store port (`ports`) and the runner that folds and writes in one transaction
(`runner`). Each capability's own projection lives in its package.
"""
