"""Work items: loading map.input, JSONPath, the filter language, sorting and selection, ids."""

from mapreduce_fsm.expressions.filter import Expression, compile_expression
from mapreduce_fsm.expressions.jsonpath import apply_json_path
from mapreduce_fsm.expressions.sorting import SortKey, compile_sort, sort_items
from mapreduce_fsm.workitems.item_list import ItemList, WorkItem
from mapreduce_fsm.workitems.items import (
    WorkItems,
    assign_ids,
    items_digest,
    load_work_items,
)
from mapreduce_fsm.workitems.select import select_items
from mapreduce_fsm.workitems.sources import LoadedInput, load_input

__all__ = [
    "Expression",
    "ItemList",
    "LoadedInput",
    "SortKey",
    "WorkItem",
    "WorkItems",
    "apply_json_path",
    "assign_ids",
    "compile_expression",
    "compile_sort",
    "items_digest",
    "load_input",
    "load_work_items",
    "select_items",
    "sort_items",
]
