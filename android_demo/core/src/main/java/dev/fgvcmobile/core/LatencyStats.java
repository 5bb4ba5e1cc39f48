package dev.fgvcmobile.core;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Summary of timing samples, defined as the Python harness does (benchmarks/stats.py):
 * population standard deviation (ddof=0) and numpy's default linear-interpolated percentiles,
 * so phone and host rows compare like with like.
 */
public final class LatencyStats {
    public final double mean;
    public final double std;
    public final double p50;
    public final double p90;
    public final double p99;
    public final double min;
    public final double max;
    public final int n;

    private LatencyStats(double[] sorted, double mean, double std) {
        this.n = sorted.length;
        this.mean = mean;
        this.std = std;
        this.p50 = percentile(sorted, 50);
        this.p90 = percentile(sorted, 90);
        this.p99 = percentile(sorted, 99);
        this.min = sorted[0];
        this.max = sorted[sorted.length - 1];
    }

    public static LatencyStats of(double[] samplesMs) {
        if (samplesMs.length == 0) {
            throw new FgvcException("no timing samples to summarise (runs must be at least 1)");
        }
        double sum = 0;
        for (double v : samplesMs) {
            if (Double.isNaN(v) || Double.isInfinite(v)) {
                throw new FgvcException("timing samples contain NaN or infinity");
            }
            sum += v;
        }
        double mean = sum / samplesMs.length;
        double sq = 0;
        for (double v : samplesMs) {
            sq += (v - mean) * (v - mean);
        }
        double[] sorted = samplesMs.clone();
        Arrays.sort(sorted);
        return new LatencyStats(sorted, mean, Math.sqrt(sq / samplesMs.length));
    }

    /**
     * numpy method="linear": rank h = (q / 100) (n - 1), interpolated between floor(h) and the
     * next sample with numpy's two-sided lerp (from below when t < 0.5, from above otherwise).
     */
    public static double percentile(double[] sorted, double q) {
        double h = (q / 100.0) * (sorted.length - 1);
        int lo = (int) Math.floor(h);
        int hi = Math.min(lo + 1, sorted.length - 1);
        double t = h - lo;
        double diff = sorted[hi] - sorted[lo];
        return t >= 0.5 ? sorted[hi] - diff * (1 - t) : sorted[lo] + diff * t;
    }

    /** The report's latency_ms object. */
    public Map<String, Object> toMap() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("mean", mean);
        m.put("std", std);
        m.put("p50", p50);
        m.put("p90", p90);
        m.put("p99", p99);
        m.put("min", min);
        m.put("max", max);
        return m;
    }
}
