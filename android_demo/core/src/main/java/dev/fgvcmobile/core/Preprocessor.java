package dev.fgvcmobile.core;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * RGB image -> the model's input tensor, exactly as the Python eval transform does it:
 * resize to preprocess.resize (H, W) with Pillow's filter, center-crop input_size with
 * torchvision's rounding, then per channel either the raw value, (x/255 - mean)/std in float32
 * (ToTensor + Normalize), or that value quantized as rint(v / scale) + zero_point, clamped.
 */
public final class Preprocessor {
    private final Manifest.Preprocess pre;
    private final InputFormat fmt;
    /** Per channel, the tensor value of each 0..255 input: the transform is element-wise. */
    private final float[][] floatLut = new float[3][256];
    private final byte[][] byteLut = new byte[3][256];

    public Preprocessor(Manifest.Preprocess pre, InputFormat fmt) {
        if (fmt.height != pre.inputSize || fmt.width != pre.inputSize) {
            throw new FgvcException("input is " + fmt.height + "x" + fmt.width + " but preprocess.input_size is " + pre.inputSize);
        }
        this.pre = pre;
        this.fmt = fmt;
        for (int c = 0; c < 3; c++) {
            for (int x = 0; x < 256; x++) {
                float v = fmt.normalizationInGraph ? (float) x : ((float) x / 255f - fmt.mean[c]) / fmt.std[c];
                floatLut[c][x] = v;
                if (fmt.dtype.isInteger()) {
                    byteLut[c][x] = (byte) (fmt.quant == null ? x : quantize(v, fmt.quant, fmt.dtype));
                }
            }
        }
    }

    /** rint(v / scale) + zero_point clamped to the type (round half to even, like np.round). */
    public static int quantize(float v, Quant q, DType dtype) {
        float t = v / q.scale;
        long r = (long) Math.rint(t) + q.zeroPoint;
        return (int) Math.max(dtype.min, Math.min(dtype.max, r));
    }

    /** Resize then center crop: the input_size x input_size RGB image the model sees. */
    public RgbImage geometric(RgbImage image) {
        RgbImage resized = PillowResize.resize(image, pre.resizeW, pre.resizeH, pre.interpolation);
        return centerCrop(resized, pre.inputSize);
    }

    /** torchvision CenterCrop: offsets int(round((H - size) / 2.0)), Python's round half to even. */
    public static RgbImage centerCrop(RgbImage image, int size) {
        if (image.width < size || image.height < size) {
            throw new FgvcException("cannot center-crop " + size + " from a " + image.width + "x" + image.height + " image");
        }
        int top = (int) Math.rint((image.height - size) / 2.0);
        int left = (int) Math.rint((image.width - size) / 2.0);
        return image.crop(left, top, size, size);
    }

    public int byteSize() {
        return fmt.byteSize();
    }

    /** Write the tensor for {@code image} at dst's position, in dst's byte order; advances it. */
    public void write(RgbImage image, ByteBuffer dst) {
        if (dst.remaining() < byteSize()) {
            throw new IllegalArgumentException("buffer has " + dst.remaining() + " bytes left, tensor needs " + byteSize());
        }
        encode(geometric(image), dst);
    }

    /** The tensor's bytes in the given order (little-endian is what the test vectors hold). */
    public byte[] tensorBytes(RgbImage image, ByteOrder order) {
        ByteBuffer b = ByteBuffer.allocate(byteSize()).order(order);
        write(image, b);
        return b.array();
    }

    /** Encode an already cropped input_size x input_size image. */
    public void encode(RgbImage crop, ByteBuffer dst) {
        int h = fmt.height;
        int w = fmt.width;
        if (crop.width != w || crop.height != h) {
            throw new IllegalArgumentException("crop is " + crop.width + "x" + crop.height + ", expected " + w + "x" + h);
        }
        byte[] px = crop.rgb;
        boolean isFloat = fmt.dtype == DType.FLOAT32;
        if (fmt.layout == Layout.NHWC) {
            for (int i = 0; i < h * w; i++) {
                for (int c = 0; c < 3; c++) {
                    int x = px[3 * i + c] & 0xFF;
                    if (isFloat) {
                        dst.putFloat(floatLut[c][x]);
                    } else {
                        dst.put(byteLut[c][x]);
                    }
                }
            }
        } else {
            for (int c = 0; c < 3; c++) {
                for (int i = 0; i < h * w; i++) {
                    int x = px[3 * i + c] & 0xFF;
                    if (isFloat) {
                        dst.putFloat(floatLut[c][x]);
                    } else {
                        dst.put(byteLut[c][x]);
                    }
                }
            }
        }
    }
}
