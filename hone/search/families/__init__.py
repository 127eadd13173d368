"""Sharing families: each knows one kind of estimator whose candidates can share fits exactly.

Order matters: the first family whose ``key`` accepts a model handles it (a Pipeline before the
estimator inside it).
"""

from hone.search.families.base import Family
from hone.search.families.boosting import BoostingStages
from hone.search.families.forest import ForestPrefix
from hone.search.families.neighbors import NeighborLists
from hone.search.families.pipeline import SharedPreparation

FAMILIES: list[Family] = [SharedPreparation(), ForestPrefix(), BoostingStages(), NeighborLists()]

__all__ = ["FAMILIES", "BoostingStages", "ForestPrefix", "NeighborLists", "SharedPreparation"]
