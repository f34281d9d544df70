"""Cycles in a graph of edges: what keeps a workflow a DAG."""

import graphlib


def find_cycle(edges):
    """A cycle among ``edges`` (``(source, destination)`` pairs) as the list
    of its nodes, the first repeated at the end; None if there is none."""
    predecessors = {}
    for source, destination in edges:
        predecessors.setdefault(destination, set()).add(source)
        predecessors.setdefault(source, set())
    try:
        graphlib.TopologicalSorter(predecessors).prepare()
    except graphlib.CycleError as error:
        # Each node of the cycle it names is a predecessor of the next.
        return list(error.args[1])
    return None
