// GET one URL per iteration through the gateway (HTTP/1.1 keep-alive, one connection per VU).
// Env: URL, TOKEN (bearer token, or empty), VUS, DURATION, SUMMARY (file for the JSON summary).
import http from "k6/http";
import { Counter } from "k6/metrics";

export const options = {
  vus: Number(__ENV.VUS),
  duration: __ENV.DURATION,
  summaryTrendStats: ["med", "p(99)", "count"],
};

const requests = new Counter("requests");
const errors = new Counter("errors");
const params = __ENV.TOKEN ? { headers: { authorization: `Bearer ${__ENV.TOKEN}` } } : {};
http.setResponseCallback(http.expectedStatuses({ min: 200, max: 299 }));
let reported = false;

export default function () {
  requests.add(1);
  const res = http.get(__ENV.URL, params); // status 0 when there was no answer at all
  if (res.status < 200 || res.status > 299) {
    errors.add(1);
    if (!reported) {
      reported = true; // one sample per VU is enough to see what went wrong
      console.warn(`HTTP ${res.status} ${res.error || ""}: ${String(res.body).slice(0, 300)}`);
    }
  }
}

export function handleSummary(data) {
  return { [__ENV.SUMMARY]: JSON.stringify(data) };
}
