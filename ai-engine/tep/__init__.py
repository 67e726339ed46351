"""The Tennessee Eastman process benchmark: multivariate fault detection, against PCA and DPCA."""
