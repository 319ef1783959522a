//! Training data: the verl/LRPO parquet layout, preparation and the grouped sampler (being written).
