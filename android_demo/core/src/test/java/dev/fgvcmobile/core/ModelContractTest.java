package dev.fgvcmobile.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertSame;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import java.util.Map;
import org.junit.Test;

public class ModelContractTest {
    private final Manifest m = Fixtures.parse(Fixtures.manifestMap());
    private final TensorInfo goodIn = new TensorInfo("int8", new int[] {1, 32, 32, 3}, new Quant(0.018658447f, -14));
    private final TensorInfo goodOut = new TensorInfo("int8", new int[] {1, 4}, new Quant(0.125f, 3));

    private String refusal(TensorInfo in, TensorInfo out) {
        return assertThrows(FgvcException.class, () -> ModelContract.resolve(m, in, out, "model_int8.tflite")).getMessage();
    }

    @Test
    public void agreeingModelResolves() {
        ModelContract c = ModelContract.resolve(m, goodIn, goodOut, "model_int8.tflite");
        assertEquals(32, c.input.height);
        assertEquals(DType.INT8, c.input.dtype);
        assertEquals(-14, c.input.quant.zeroPoint);
        assertEquals(4, c.output.numClasses);
        assertEquals(3, c.output.quant.zeroPoint);
        assertEquals(32 * 32 * 3, c.input.byteSize());
    }

    @Test
    public void labelCountMismatchIsRefusedWithAClearMessage() {
        String msg = refusal(goodIn, new TensorInfo("int8", new int[] {1, 200}, new Quant(0.125f, 3)));
        assertEquals("manifest.json lists 4 labels but model_int8.tflite outputs 200 class scores; refusing to show "
                + "wrong names. Export the model and its manifest together", msg);
    }

    @Test
    public void dtypeMismatchIsRefused() {
        String msg = refusal(new TensorInfo("uint8", new int[] {1, 32, 32, 3}, new Quant(1f, 0)), goodOut);
        assertTrue(msg, msg.contains("says the input is int8 but model_int8.tflite takes uint8"));
        msg = refusal(goodIn, new TensorInfo("float32", new int[] {1, 4}, null));
        assertTrue(msg, msg.contains("says the output is int8 but model_int8.tflite gives float32"));
        msg = refusal(new TensorInfo("int64", new int[] {1, 32, 32, 3}, null), goodOut);
        assertTrue(msg, msg.contains("input tensor type int64 is not supported"));
    }

    @Test
    public void layoutOrSizeMismatchIsRefused() {
        String msg = refusal(new TensorInfo("int8", new int[] {1, 3, 32, 32}, goodIn.quant), goodOut);
        assertTrue(msg, msg.contains("takes input shape [1, 3, 32, 32]"));
        msg = refusal(new TensorInfo("int8", new int[] {1, 224, 224, 3}, goodIn.quant), goodOut);
        assertTrue(msg, msg.contains("input_size 32"));
    }

    @Test
    public void quantizationDisagreementIsRefusedAndTheModelsParamsWin() {
        String msg = refusal(new TensorInfo("int8", new int[] {1, 32, 32, 3}, new Quant(0.02f, -14)), goodOut);
        assertTrue(msg, msg.contains("gives input quantization"));
        Map<String, Object> map = Fixtures.manifestMap();
        Fixtures.sub(map, "input").remove("quantization");
        Manifest noQuant = Fixtures.parse(map);
        ModelContract c = ModelContract.resolve(noQuant, goodIn, goodOut, "m.tflite");
        assertSame(goodIn.quant, c.input.quant);
    }

    @Test
    public void integerInputWithoutAnyQuantizationIsRefused() {
        Map<String, Object> map = Fixtures.manifestMap();
        Fixtures.sub(map, "input").remove("quantization");
        Manifest noQuant = Fixtures.parse(map);
        TensorInfo in = new TensorInfo("int8", new int[] {1, 32, 32, 3}, Quant.ofRuntime(0f, 0));
        String msg = assertThrows(FgvcException.class, () -> ModelContract.resolve(noQuant, in, goodOut, "m.tflite")).getMessage();
        assertTrue(msg, msg.contains("needs normalization_in_graph=true"));
    }

    @Test
    public void rawUint8InputNeedsNoQuantization() {
        Map<String, Object> map = Fixtures.manifestMap();
        Map<String, Object> in = Fixtures.sub(map, "input");
        in.put("dtype", "uint8");
        in.put("normalization_in_graph", true);
        in.remove("quantization");
        ModelContract c = ModelContract.resolve(Fixtures.parse(map),
                new TensorInfo("uint8", new int[] {1, 32, 32, 3}, null), goodOut, "m.tflite");
        assertNull(c.input.quant);
    }

    @Test
    public void otherFormatsAndFloat16AreRefused() {
        Map<String, Object> map = Fixtures.manifestMap();
        map.put("format", "onnx");
        Manifest onnx = Fixtures.parse(map);
        String msg = assertThrows(FgvcException.class, () -> ModelContract.requireFormat(onnx, "tflite")).getMessage();
        assertTrue(msg, msg.contains("describes a onnx artifact"));
        ModelContract.requireFormat(m, "tflite");

        map = Fixtures.manifestMap();
        Fixtures.sub(map, "input").put("dtype", "float16");
        Fixtures.sub(map, "input").remove("quantization");
        Manifest f16 = Fixtures.parse(map);
        msg = assertThrows(FgvcException.class, () -> ModelContract.fromManifest(f16)).getMessage();
        assertTrue(msg, msg.contains("float16 model inputs are not supported"));
    }

    @Test
    public void manifestShapeMustMatchItsOwnLayout() {
        Map<String, Object> map = Fixtures.manifestMap();
        Fixtures.sub(map, "input").put("layout", "NCHW");
        Manifest bad = Fixtures.parse(map);
        String msg = assertThrows(FgvcException.class, () -> ModelContract.fromManifest(bad)).getMessage();
        assertTrue(msg, msg.contains("input.shape [1, 32, 32, 3] disagrees with its layout NCHW"));
    }
}
