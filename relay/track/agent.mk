# fieldrelay-track needs gpsd's client library and SQLite.
AGENT_LIBS_track := $(shell $(PKG_CONFIG) --libs libgps 2>/dev/null || echo -lgps) -lsqlite3 -lm
