-- wrk script of the zoneproxy bench harness (bench/harness, embedded and written to the run's temp dir).
-- It changes nothing in the requests; when wrk is done it prints one line, "ZPBENCH " followed by a
-- JSON object with the totals, the errors and the latency distribution in microseconds.
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'ZPBENCH {"duration_us":%.0f,"requests":%.0f,"bytes":%.0f,' ..
    '"errors":{"connect":%.0f,"read":%.0f,"write":%.0f,"status":%.0f,"timeout":%.0f},' ..
    '"latency_us":{"min":%.0f,"mean":%.1f,"stdev":%.1f,"max":%.0f,' ..
    '"p50":%.0f,"p90":%.0f,"p99":%.0f,"p999":%.0f}}\n',
    summary.duration, summary.requests, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.mean, latency.stdev, latency.max,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9)))
end
