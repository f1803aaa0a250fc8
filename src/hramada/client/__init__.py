"""The client: a person's profile, local store, sync engine and public API."""

from hramada.client.api import (GroupInfo, Hramada, ItemView, JoinInfo, MemberInfo, RequestInfo,
                                as_json)

__all__ = ["Hramada", "GroupInfo", "MemberInfo", "RequestInfo", "JoinInfo", "ItemView", "as_json"]
