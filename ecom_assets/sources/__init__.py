"""Where raw data comes from: the synthetic shop, the file inbox and its column mappings."""
