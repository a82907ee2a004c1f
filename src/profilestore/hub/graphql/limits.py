"""A cost limit for GraphQL operations: each selected field costs one, and the fields under
a connection (a field that takes ``first``) count once per item asked for (a variable or no
argument counts as ``DEFAULT_ITEMS``). An operation over ``max_cost`` is refused before it
runs, like one deeper than the depth limit."""

from __future__ import annotations

from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLObjectType,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationRule,
    get_named_type,
)

DEFAULT_ITEMS = 50


def cost_rule(max_cost: int) -> type[ValidationRule]:
    class CostLimit(ValidationRule):
        def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
            fragments = {
                definition.name.value: definition
                for definition in self.context.document.definitions
                if isinstance(definition, FragmentDefinitionNode)
            }
            root = self.context.schema.get_root_type(node.operation)
            cost = selection_cost(node.selection_set, root, fragments, frozenset())
            if cost > max_cost:
                self.report_error(
                    GraphQLError(
                        f"The operation costs {cost}, over the limit of {max_cost}: ask for "
                        "fewer fields or fewer items (first).",
                        node,
                        extensions={"code": "query-too-costly", "cost": cost, "limit": max_cost},
                    )
                )

    return CostLimit


def selection_cost(
    selection_set: SelectionSetNode | None,
    parent: Any,
    fragments: dict[str, FragmentDefinitionNode],
    seen: frozenset[str],
) -> int:
    if selection_set is None:
        return 0
    total = 0
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            definition = _field(parent, selection.name.value)
            inner_type = get_named_type(definition.type) if definition is not None else None
            inner = selection_cost(selection.selection_set, inner_type, fragments, seen)
            total += 1 + _items(selection, definition) * inner
        elif isinstance(selection, InlineFragmentNode):
            total += selection_cost(selection.selection_set, parent, fragments, seen)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            if name in fragments and name not in seen:
                fragment = fragments[name].selection_set
                total += selection_cost(fragment, parent, fragments, seen | {name})
    return total


def _field(parent: Any, name: str) -> GraphQLField | None:
    if isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
        found: GraphQLField | None = parent.fields.get(name)
        return found
    return None


def _items(node: FieldNode, definition: GraphQLField | None) -> int:
    if definition is None or "first" not in definition.args:
        return 1
    for argument in node.arguments or ():
        if argument.name.value == "first":
            value = argument.value
            return max(1, int(value.value)) if isinstance(value, IntValueNode) else DEFAULT_ITEMS
    return DEFAULT_ITEMS
