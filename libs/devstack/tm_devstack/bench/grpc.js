// One unary gRPC call per iteration, plaintext HTTP/2, one connection per VU.
// Env: ADDRESS (host:port), METHOD (package.Service/Method), PROTOSET (descriptor set file),
// TOKEN (bearer token), VUS, DURATION, SUMMARY (file for the JSON summary).
import grpc from "k6/net/grpc";
import { Counter } from "k6/metrics";

export const options = {
  vus: Number(__ENV.VUS),
  duration: __ENV.DURATION,
  summaryTrendStats: ["med", "p(99)", "count"],
};

const requests = new Counter("requests");
const errors = new Counter("errors");
const client = new grpc.Client();
client.loadProtoset(__ENV.PROTOSET);
const params = { metadata: { authorization: `Bearer ${__ENV.TOKEN}` } };
let connected = false;
let reported = false;

function failed(message) {
  errors.add(1);
  if (!reported) {
    reported = true; // one sample per VU is enough to see what went wrong
    console.warn(message);
  }
}

export default function () {
  requests.add(1);
  try {
    if (!connected) {
      client.connect(__ENV.ADDRESS, { plaintext: true });
      connected = true;
    }
    const res = client.invoke(__ENV.METHOD, {}, params);
    if (res.status !== grpc.StatusOK) {
      failed(`gRPC status ${res.status}: ${JSON.stringify(res.error)}`);
    }
  } catch (e) {
    failed(`no answer: ${e}`); // could not connect, or the call could not be made
  }
}

export function handleSummary(data) {
  return { [__ENV.SUMMARY]: JSON.stringify(data) };
}
