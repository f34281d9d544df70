// Follow a run (or a sweep) live: its /events stream (text/event-stream,
// read with fetch so that the key stays in the header; EventSource cannot
// send headers), reconnecting with Last-Event-ID; where the server has no
// stream (404), poll instead.
import { createParser } from "eventsource-parser";
import { request } from "./api.js";

// handlers: {event(name, data), fallback(), opened(), ended()}; returns stop().
export function follow(path, { event, fallback, opened, ended }) {
  const controller = new AbortController();
  let lastId = null;
  let stopped = false;
  let failures = 0;

  async function connect() {
    const headers = { Accept: "text/event-stream" };
    if (lastId) headers["Last-Event-ID"] = lastId;
    let response;
    try {
      response = await request(`${path}/events`, { headers, signal: controller.signal });
    } catch (error) {
      if (stopped || error.name === "AbortError") return;
      if (error.status === 404 || error.status === 405 || error.status === 501) return fallback();
      if (error.status === 401 || error.status === 403) return; // the sign-in page takes over
      return retry();
    }
    failures = 0;
    if (opened) opened();
    const parser = createParser({
      onEvent(message) {
        if (message.id) lastId = message.id;
        let data = message.data;
        try {
          data = JSON.parse(message.data);
        } catch {
          // not JSON: pass the text on
        }
        event(message.event || "message", data);
      },
    });
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        parser.feed(value);
      }
    } catch (error) {
      if (stopped || error.name === "AbortError") return;
      return retry();
    }
    if (!stopped) {
      // The server ends the stream after the final state.
      if (ended && ended()) return;
      retry();
    }
  }

  function retry() {
    failures += 1;
    if (!stopped) setTimeout(connect, Math.min(10000, 500 * 2 ** Math.min(failures, 5)));
  }

  connect();
  return () => {
    stopped = true;
    controller.abort();
  };
}
