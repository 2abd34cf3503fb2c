// One unary gRPC call per iteration, HTTP/2 (plaintext, or mTLS to a service's own port), one connection per VU, optionally after an
// unmeasured call (BEFORE_*): only the main call is in the `step:measured` latency, while
// `requests` and `errors` count iterations (an iteration whose call before failed is an error
// without its main call).
// Env: ADDRESS (host:port), METHOD (package.Service/Method), REQUEST (JSON text, "{}" when unset);
// BEFORE_METHOD, BEFORE_REQUEST; PROTOSET (descriptor set file), TOKEN (bearer token), VUS,
// DURATION, SUMMARY (file for the JSON summary); CLIENT_CA_FILE, CLIENT_CERT_FILE, CLIENT_KEY_FILE
// (PEM files): mTLS with that client certificate (the services' ports speak mTLS only), else plaintext.
// "{id}" in requests becomes a random id in ID_MIN..ID_MAX, "{priority}" a random priority.
import grpc from "k6/net/grpc";
import { Counter } from "k6/metrics";

export const options = {
  vus: Number(__ENV.VUS),
  duration: __ENV.DURATION,
  summaryTrendStats: ["med", "p(99)", "count"],
  // A threshold that always holds makes k6 report the sub-metric of the measured calls.
  thresholds: { "grpc_req_duration{step:measured}": ["max>=0"] },
};

const requests = new Counter("requests");
const errors = new Counter("errors");
const client = new grpc.Client();
client.loadProtoset(__ENV.PROTOSET);
const metadata = { authorization: `Bearer ${__ENV.TOKEN}` };
const idMin = Number(__ENV.ID_MIN || 0);
const idMax = Number(__ENV.ID_MAX || 0);
const PRIORITIES = ["low", "medium", "high"];
const connectParams = __ENV.CLIENT_CA_FILE
  ? {
      tls: {
        cacerts: [open(__ENV.CLIENT_CA_FILE)],
        cert: open(__ENV.CLIENT_CERT_FILE),
        key: open(__ENV.CLIENT_KEY_FILE),
      },
    }
  : { plaintext: true };
let connected = false;
let reported = false;

function fill(text) {
  return JSON.parse(
    text
      .replaceAll("{id}", () => String(idMin + Math.floor(Math.random() * (idMax - idMin + 1))))
      .replaceAll("{priority}", () => PRIORITIES[Math.floor(Math.random() * 3)]),
  );
}

function failed(message) {
  errors.add(1);
  if (!reported) {
    reported = true; // one sample per VU is enough to see what went wrong
    console.warn(message);
  }
  return false;
}

function call(method, request, step) {
  const res = client.invoke(method, fill(request || "{}"), { metadata, tags: { step } });
  if (res.status !== grpc.StatusOK) {
    return failed(`${method}: gRPC status ${res.status}: ${JSON.stringify(res.error)}`);
  }
  return true;
}

export default function () {
  requests.add(1);
  try {
    if (!connected) {
      client.connect(__ENV.ADDRESS, connectParams);
      connected = true;
    }
    if (__ENV.BEFORE_METHOD && !call(__ENV.BEFORE_METHOD, __ENV.BEFORE_REQUEST, "before")) {
      return;
    }
    call(__ENV.METHOD, __ENV.REQUEST, "measured");
  } catch (e) {
    failed(`no answer: ${e}`); // could not connect, or the call could not be made
  }
}

export function handleSummary(data) {
  return { [__ENV.SUMMARY]: JSON.stringify(data) };
}
