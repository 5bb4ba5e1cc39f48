package dev.fgvcmobile.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertThrows;

import java.util.Arrays;
import java.util.List;
import org.junit.Test;

public class PredictionTest {

    @Test
    public void tiesGoToTheLowerIndexAndNaNRanksLast() {
        assertArrayEquals(new int[] {1, 3, 0}, Prediction.topIndices(new double[] {0.5, 2.0, Double.NaN, 2.0}, 3));
        assertArrayEquals(new int[] {2, 0, 1}, Prediction.topIndices(new double[] {1, 1, 3}, 10));
    }

    @Test
    public void topKScoresAndFormats() {
        double[] logits = {0.0, Math.log(3.0), Math.log(6.0)};
        List<String> labels = Arrays.asList("a", "b", "c");
        List<Prediction> top = Prediction.topK(logits, OutputDecoder.softmax(logits), labels, 2);
        assertEquals("c", top.get(0).label);
        assertEquals(0.6, top.get(0).score, 1e-12);
        assertEquals(0.3, top.get(1).score, 1e-12);
        assertEquals("1. c  60.0%\n2. b  30.0%", Prediction.format(top));
        assertEquals("inference 12.3 ms \u00b7 preprocess 0.5 ms", Prediction.formatTimes(12.345, 0.46));
        assertThrows(FgvcException.class, () -> Prediction.topK(logits, logits, Arrays.asList("a", "b"), 2));
    }

    @Test
    public void quantizeRoundsHalfToEvenAndClamps() {
        Quant q = new Quant(0.5f, -3);
        assertEquals(-3, Preprocessor.quantize(0.25f, q, DType.INT8));   // 0.5 -> 0 (even), + zp
        assertEquals(-1, Preprocessor.quantize(0.75f, q, DType.INT8));   // 1.5 -> 2
        assertEquals(-3, Preprocessor.quantize(-0.25f, q, DType.INT8));  // -0.5 -> -0 (even)
        assertEquals(127, Preprocessor.quantize(1000f, q, DType.INT8));
        assertEquals(-128, Preprocessor.quantize(-1000f, q, DType.INT8));
        assertEquals(0, Preprocessor.quantize(-1f, new Quant(1f, 0), DType.UINT8));
        assertEquals(255, Preprocessor.quantize(255f, new Quant(1f, 0), DType.UINT8));
    }

    @Test
    public void centerCropUsesPythonRounding() {
        byte[] b = new byte[3 * 39 * 37];
        for (int i = 0; i < b.length / 3; i++) {
            b[3 * i] = (byte) (i % 39); // x
            b[3 * i + 1] = (byte) (i / 39); // y
        }
        RgbImage crop = Preprocessor.centerCrop(new RgbImage(39, 37, b), 32);
        // (39 - 32) / 2 = 3.5 -> 4 ; (37 - 32) / 2 = 2.5 -> 2 (half to even)
        assertEquals(4, crop.get(0, 0, 0));
        assertEquals(2, crop.get(0, 0, 1));
    }

    @Test
    public void latencyStatsOfKnownSamples() {
        LatencyStats s = LatencyStats.of(new double[] {4, 1, 3, 2});
        assertEquals(2.5, s.mean, 1e-12);
        assertEquals(Math.sqrt(1.25), s.std, 1e-12);
        assertEquals(2.5, s.p50, 1e-12);
        assertEquals(3.7, s.p90, 1e-12);
        assertEquals(1.0, s.min, 0);
        assertEquals(4.0, s.max, 0);
        assertEquals(7.0, LatencyStats.of(new double[] {7}).p99, 0);
        assertThrows(FgvcException.class, () -> LatencyStats.of(new double[0]));
        assertThrows(FgvcException.class, () -> LatencyStats.of(new double[] {1, Double.NaN}));
    }
}
