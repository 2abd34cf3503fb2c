// One HTTP request per iteration through the gateway (HTTP/1.1 keep-alive, one connection per VU),
// optionally after an unmeasured one (BEFORE_*): only the main request is in the `step:measured`
// latency, while `requests` and `errors` count iterations (an iteration whose step before failed is
// an error without its main request).
// Env: URL, METHOD (GET), BODY (JSON text, or none); BEFORE_URL, BEFORE_METHOD, BEFORE_BODY;
// TOKEN (bearer token, or empty), VUS, DURATION, SUMMARY (file for the JSON summary); RATE (below).
// "{id}" in URLs and bodies becomes a random id in ID_MIN..ID_MAX, "{priority}" a random priority.
import http from "k6/http";
import { Counter } from "k6/metrics";

// RATE set: that many iterations a second (k6's constant-arrival-rate, up to VUS at once) instead
// of as many as VUS connections manage: the same work per second whatever the system's speed.
const load = __ENV.RATE
  ? {
      scenarios: {
        fixed: {
          executor: "constant-arrival-rate",
          rate: Number(__ENV.RATE),
          timeUnit: "1s",
          duration: __ENV.DURATION,
          preAllocatedVUs: Number(__ENV.VUS),
        },
      },
    }
  : { vus: Number(__ENV.VUS), duration: __ENV.DURATION };

export const options = {
  ...load,
  summaryTrendStats: ["med", "p(99)", "count"],
  // A threshold that always holds makes k6 report the sub-metric of the measured requests.
  thresholds: { "http_req_duration{step:measured}": ["max>=0"] },
};

const requests = new Counter("requests");
const errors = new Counter("errors");
const headers = { "content-type": "application/json" };
if (__ENV.TOKEN) headers.authorization = `Bearer ${__ENV.TOKEN}`;
const idMin = Number(__ENV.ID_MIN || 0);
const idMax = Number(__ENV.ID_MAX || 0);
const PRIORITIES = ["low", "medium", "high"];
http.setResponseCallback(http.expectedStatuses({ min: 200, max: 299 }));
let reported = false;

function fill(text) {
  return text
    .replaceAll("{id}", () => String(idMin + Math.floor(Math.random() * (idMax - idMin + 1))))
    .replaceAll("{priority}", () => PRIORITIES[Math.floor(Math.random() * 3)]);
}

function send(method, url, body, step) {
  const payload = body ? fill(body) : null;
  const res = http.request(method, fill(url), payload, { headers, tags: { step } });
  if (res.status < 200 || res.status > 299) {  // status 0: there was no answer at all
    errors.add(1);
    if (!reported) {
      reported = true; // one sample per VU is enough to see what went wrong
      console.warn(`${method} ${res.url} -> HTTP ${res.status} ${res.error || ""}: ${String(res.body).slice(0, 300)}`);
    }
    return false;
  }
  return true;
}

export default function () {
  requests.add(1);
  if (__ENV.BEFORE_URL && !send(__ENV.BEFORE_METHOD || "GET", __ENV.BEFORE_URL, __ENV.BEFORE_BODY, "before")) {
    return;
  }
  send(__ENV.METHOD || "GET", __ENV.URL, __ENV.BODY, "measured");
}

export function handleSummary(data) {
  return { [__ENV.SUMMARY]: JSON.stringify(data) };
}
