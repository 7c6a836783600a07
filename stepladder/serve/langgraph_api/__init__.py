"""The LangGraph Platform API on `stepladder serve`: `langgraph_sdk` clients work unchanged."""

from stepladder.serve.langgraph_api.routes import add_langgraph_routes

__all__ = ["add_langgraph_routes"]
