# The echo agent answers to a second name: fieldrelay-ping (`fieldrelay ping`).
AGENT_ALIASES_echo := ping
AGENT_LIBS_echo := -lm
