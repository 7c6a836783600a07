"""The agent node: its spec (`spec`), the tool-calling loop (`loop`) and its prompts (`prompts`)."""
