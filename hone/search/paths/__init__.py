"""Sharing families: each knows one kind of estimator whose candidates can share fits exactly.

Order matters: the first family whose ``key`` accepts a model handles it (a Pipeline before the
estimator inside it).
"""

from hone.search.paths.boosting import BoostingStages
from hone.search.paths.forest import ForestPrefix
from hone.search.paths.neighbors import NeighborLists
from hone.search.paths.pipeline import SharedPreparation
from hone.search.plan import Family

FAMILIES: list[Family] = [SharedPreparation(), ForestPrefix(), BoostingStages(), NeighborLists()]

__all__ = ["FAMILIES", "BoostingStages", "ForestPrefix", "NeighborLists", "SharedPreparation"]
