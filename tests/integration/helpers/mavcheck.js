#!/usr/bin/env node
// mavcheck.js - an independent MAVLink decoder for the tests: node-mavlink
// (npm, installed into build/npm by tests/integration/helpers/npm.sh) reads
// MAVLink and prints one JSON line per message it accepts:
//   {"msgid":33,"name":"GLOBAL_POSITION_INT","sysid":1,"compid":1,"seq":5,
//    "version":2,"ts_us":"1479..."|null,"fields":{...}}
// (--udp: also "rx_ms", when the datagram came, Unix ms)
// and a last line {"summary":{"valid":N,"unknown":N,"invalid":N}}.
//
//   mavcheck.js --file PATH [--tlog]     a raw MAVLink byte stream, or a tlog
//   mavcheck.js --udp PORT [--count N] [--idle S] [--timeout S]
//                                        listen on 127.0.0.1:PORT, each datagram
//                                        on its own, until N messages, S seconds
//                                        of silence after the first, or the timeout
//                                        (then exit 1 if fewer than N came)
//
// NODE_PATH or --modules DIR says where node_modules is (build/npm/node_modules).
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const dgram = require('node:dgram');

const args = process.argv.slice(2);
function opt(name, dflt) {
	const i = args.indexOf(name);
	return i >= 0 && i + 1 < args.length ? args[i + 1] : dflt;
}
const modules = opt('--modules', process.env.MAVCHECK_MODULES ||
	path.resolve(__dirname, '../../../build/npm/node_modules'));
const mav = require(path.join(modules, 'node-mavlink'));

const REGISTRY = { ...mav.minimal.REGISTRY, ...mav.common.REGISTRY, ...mav.ardupilotmega.REGISTRY };

function plain(v) {
	if (typeof v === 'bigint')
		return v.toString();
	if (Array.isArray(v))
		return v.map(plain);
	if (typeof v === 'number' && !Number.isFinite(v))
		return String(v);
	return v;
}

function line(packet, rxMs) {
	const h = packet.header;
	const clazz = REGISTRY[h.msgid];
	const out = {
		msgid: h.msgid,
		name: clazz ? clazz.MSG_NAME : null,
		sysid: h.sysid,
		compid: h.compid,
		seq: h.seq,
		version: h.magic === 0xfd ? 2 : 1,
		len: h.payloadLength,
		ts_us: h.timestamp === null || h.timestamp === undefined ? null : (h.timestamp * 1000n).toString(),
		fields: {},
	};
	if (rxMs !== undefined)
		out.rx_ms = rxMs;
	if (clazz) {
		const data = packet.protocol.data(packet.payload, clazz);
		for (const f of clazz.FIELDS)
			out.fields[f.source] = plain(data[f.name]);
	}
	process.stdout.write(JSON.stringify(out) + '\n');
}

function summary(splitters) {
	const s = { valid: 0, unknown: 0, invalid: 0 };
	for (const sp of splitters) {
		s.valid += sp.validPackages;
		s.unknown += sp.unknownPackagesCount;
		s.invalid += sp.invalidPackages;
	}
	process.stdout.write(JSON.stringify({ summary: s }) + '\n');
}

const file = opt('--file', null);
const udp = opt('--udp', null);
if (file) {
	// A tlog: the splitter that looks for frames after 8 bytes of time.
	const splitter = args.includes('--tlog') ? new mav.MavLinkTLogPacketSplitter() : new mav.MavLinkPacketSplitter();
	const reader = splitter.pipe(new mav.MavLinkPacketParser());
	reader.on('data', (p) => line(p));
	reader.on('end', () => summary([splitter]));
	// The whole file in one write: node-mavlink 2.3.0's tlog splitter drops the
	// timestamp before it has the whole frame, and a frame cut by a chunk
	// boundary is then lost (it wants 8 bytes before the magic).
	splitter.end(fs.readFileSync(file));
} else if (udp) {
	const want = Number(opt('--count', 'Infinity'));
	const idle = Number(opt('--idle', '0'));
	const timeout = Number(opt('--timeout', '30'));
	let idleTimer = null;
	const sock = dgram.createSocket('udp4');
	const splitters = [];
	let seen = 0;
	const done = () => {
		summary(splitters);
		sock.close();
		process.exit(seen >= want || (want === Infinity && seen > 0) ? 0 : 1);
	};
	sock.on('message', (msg) => {
		const rxMs = Date.now();
		// Each datagram is parsed on its own, as a ground station does.
		const splitter = new mav.MavLinkPacketSplitter();
		const parser = new mav.MavLinkPacketParser();
		splitters.push(splitter);
		splitter.pipe(parser);
		parser.on('data', (p) => {
			line(p, rxMs);
			if (++seen >= want)
				setImmediate(done);
		});
		if (idle > 0) {
			clearTimeout(idleTimer);
			idleTimer = setTimeout(done, idle * 1000);
		}
		splitter.end(msg);
	});
	sock.bind(Number(udp), '127.0.0.1', () => {
		process.stderr.write(`mavcheck: listening on 127.0.0.1:${udp}\n`);
	});
	setTimeout(done, timeout * 1000);
} else {
	process.stderr.write('usage: mavcheck.js --file PATH [--tlog] | --udp PORT --count N [--timeout S]\n');
	process.exit(2);
}
