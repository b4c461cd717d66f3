// bench/node/companion.mjs — Uppy Companion's stock standalone app (the
// `companion` binary's, configured by the same COMPANION_* variables), but
// listening on 127.0.0.1 only: the stock binary has no host option and
// listens on every interface. Port: COMPANION_PORT.
import http from "node:http";
import standalone from "@uppy/companion/standalone";

const port = Number(process.env.COMPANION_PORT);
if (!port) throw new Error("COMPANION_PORT is not set");
const { app } = standalone();
http.createServer(app).listen(port, "127.0.0.1", () => {
  console.log(`companion listening on 127.0.0.1:${port}`);
});
