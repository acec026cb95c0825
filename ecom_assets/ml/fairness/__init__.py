"""Fair exposure and quality by group.

    exposure   position-discounted exposure of items and groups of items (brand, category,
               price tier, new vs established), its concentration (Gini), and quality
               (NDCG@10) by shopper group with bootstrap intervals
    rerank     re-ranking a list under exposure constraints (a floor for a group's places
               in each list, a cap on any one value's places) and the trade-off curve of
               quality against concentration over constraint levels
"""
