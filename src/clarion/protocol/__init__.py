"""The V2 wire protocol: method specs from the descriptor, HTTP routes, the JSON codec."""

from clarion.protocol.descriptor import SERVICE_NAME, AuthType, HttpBinding, MethodSpec, v2_methods
from clarion.protocol.routes import RouteMatch, RouteTable

__all__ = [
    "SERVICE_NAME",
    "AuthType",
    "HttpBinding",
    "MethodSpec",
    "RouteMatch",
    "RouteTable",
    "v2_methods",
]
