# fieldrelay-voice needs libopus and libcodec2 (Debian's libopus-dev, libcodec2-dev).
AGENT_LIBS_voice := $(shell $(PKG_CONFIG) --libs opus codec2 2>/dev/null || echo -lopus -lcodec2) -lm
