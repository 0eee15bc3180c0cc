# fieldrelay-track needs gpsd's client library, SQLite and jansson (the daemon's views).
AGENT_LIBS_track := $(shell $(PKG_CONFIG) --libs libgps jansson 2>/dev/null || echo -lgps -ljansson) -lsqlite3 -lm
