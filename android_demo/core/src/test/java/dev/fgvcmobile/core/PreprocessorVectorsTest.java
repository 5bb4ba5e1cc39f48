package dev.fgvcmobile.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.junit.Test;

/** The app's input tensors equal Python's for every vector image, geometry and input variant. */
public class PreprocessorVectorsTest {
    private static final double FLOAT_TOL = 1e-6;

    private static byte[] appTensor(Map<String, Object> c) {
        Manifest m = Vectors.manifest((String) c.get("manifest"));
        ModelContract contract = ModelContract.fromManifest(m);
        Preprocessor p = new Preprocessor(m.preprocess, contract.input);
        return p.tensorBytes(Vectors.image((String) c.get("image")), ByteOrder.LITTLE_ENDIAN);
    }

    @Test
    public void everyCaseIsCovered() {
        List<Map<String, Object>> cases = Vectors.list("cases");
        assertTrue("expected at least 60 vector cases, got " + cases.size(), cases.size() >= 60);
    }

    @Test
    public void integerTensorsAreByteIdentical() {
        int checked = 0;
        for (Map<String, Object> c : Vectors.list("cases")) {
            if (c.get("dtype").equals("float32")) {
                continue;
            }
            byte[] expected = Vectors.bytes((String) c.get("tensor"));
            byte[] actual = appTensor(c);
            assertEquals(c.get("tensor") + ": size", expected.length, actual.length);
            for (int i = 0; i < expected.length; i++) {
                if (expected[i] != actual[i]) {
                    throw new AssertionError(String.format(Locale.ROOT, "%s: byte %d is %d, Python has %d",
                            c.get("tensor"), i, actual[i], expected[i]));
                }
            }
            checked++;
        }
        assertTrue("no integer cases checked", checked >= 30);
    }

    @Test
    public void floatTensorsMatchWithin1e6() {
        int checked = 0;
        long exact = 0;
        long total = 0;
        for (Map<String, Object> c : Vectors.list("cases")) {
            if (!c.get("dtype").equals("float32")) {
                continue;
            }
            ByteBuffer e = ByteBuffer.wrap(Vectors.bytes((String) c.get("tensor"))).order(ByteOrder.LITTLE_ENDIAN);
            ByteBuffer a = ByteBuffer.wrap(appTensor(c)).order(ByteOrder.LITTLE_ENDIAN);
            assertEquals(c.get("tensor") + ": size", e.capacity(), a.capacity());
            for (int i = 0; i < e.capacity() / 4; i++) {
                float ev = e.getFloat(4 * i);
                float av = a.getFloat(4 * i);
                if (Math.abs(ev - av) > FLOAT_TOL) {
                    throw new AssertionError(String.format(Locale.ROOT, "%s: element %d is %.9g, Python has %.9g",
                            c.get("tensor"), i, av, ev));
                }
                exact += ev == av ? 1 : 0;
                total++;
            }
            checked++;
        }
        assertTrue("no float cases checked", checked >= 20);
        System.out.println("float tensors: " + exact + " of " + total + " elements bit-identical to Python");
    }

    @Test
    public void geometricStepEqualsTheRawUint8Tensor() {
        // the uint8 NHWC tensor is exactly the resized + cropped RGB image
        for (Map<String, Object> c : Vectors.list("cases")) {
            if (!((String) c.get("manifest")).endsWith("__u8_nhwc.json")) {
                continue;
            }
            Manifest m = Vectors.manifest((String) c.get("manifest"));
            Preprocessor p = new Preprocessor(m.preprocess, ModelContract.fromManifest(m).input);
            RgbImage crop = p.geometric(Vectors.image((String) c.get("image")));
            assertArrayEquals((String) c.get("tensor"), Vectors.bytes((String) c.get("tensor")), crop.rgb);
        }
    }
}
