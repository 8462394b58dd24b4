"""smp: feature engineering and K-fold stacking for social media popularity prediction.

The installed distribution holds one top-level package, `smp`; the source folders `features/`, `ensembles/` and
`pipelines/` install as `smp.features`, `smp.ensembles` and `smp.pipelines` (see `[tool.setuptools.package-dir]`).
"""

__version__ = "0.1.0"
