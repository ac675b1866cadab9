#pragma once
#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

// PNG decoding to 8-bit RGB with the conversions of PIL's Image.open(...).convert('RGB'),
// through libpng's low-level API: palettes and gray expanded, 16-bit samples cut to their
// high byte — except 16-bit gray without alpha, which PIL opens as "I;16" and clips to 255 —,
// alpha dropped (colours kept), and no gamma correction (PIL ignores gAMA).
// libpng reports errors by longjmp, which Swift cannot catch: it happens here, in C.

typedef struct {
    const unsigned char *data;
    size_t size;
    size_t offset;
} tapestry_png_source;

static void tapestry_png_read(png_structp png, png_bytep out, size_t length) {
    tapestry_png_source *source = (tapestry_png_source *)png_get_io_ptr(png);
    if (length > source->size - source->offset) png_error(png, "the file ends early");
    memcpy(out, source->data + source->offset, length);
    source->offset += length;
}

static void tapestry_png_error(png_structp png, png_const_charp message) {
    char *buffer = (char *)png_get_error_ptr(png);
    strncpy(buffer, message, 255);
    buffer[255] = 0;
    png_longjmp(png, 1);
}

static void tapestry_png_warning(png_structp png, png_const_charp message) {
    (void)png;
    (void)message;
}

/// Decodes `data`. Returns 0 with `*pixels` (malloc'ed, width·height·3 bytes, free() it),
/// 1 with `message` on a malformed file, 2 when width·height exceeds `max_pixels` (width
/// and height set, nothing allocated).
static inline int tapestry_png_decode_rgb8(const unsigned char *data, size_t size, size_t max_pixels,
                                           unsigned char **pixels, unsigned *width, unsigned *height, char message[256]) {
    tapestry_png_source source = {data, size, 0};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, message, tapestry_png_error, tapestry_png_warning);
    if (!png) { strcpy(message, "cannot start the decoder"); return 1; }
    png_infop info = png_create_info_struct(png);
    unsigned char *volatile buffer = NULL;
    png_bytep *volatile rows = NULL;
    if (!info || setjmp(png_jmpbuf(png))) {
        free(buffer);
        free(rows);
        png_destroy_read_struct(&png, info ? &info : NULL, NULL);
        if (!info) strcpy(message, "cannot start the decoder");
        return 1;
    }
    png_set_read_fn(png, &source, tapestry_png_read);
    png_read_info(png, info);
    *width = png_get_image_width(png, info);
    *height = png_get_image_height(png, info);
    if (*width == 0 || *height == 0 || (size_t)*width * (size_t)*height > max_pixels) {
        png_destroy_read_struct(&png, &info, NULL);
        return 2;
    }
    int color = png_get_color_type(png, info), depth = png_get_bit_depth(png, info);
    int gray16 = color == PNG_COLOR_TYPE_GRAY && depth == 16;
    if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (depth == 16 && !gray16) png_set_strip_16(png);
    if ((color == PNG_COLOR_TYPE_GRAY && !gray16) || color == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
    if ((color & PNG_COLOR_MASK_ALPHA) || (color == PNG_COLOR_TYPE_PALETTE && png_get_valid(png, info, PNG_INFO_tRNS))) png_set_strip_alpha(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    // Rows are read in place: 3 bytes per pixel, or 2 (one big-endian sample) for gray16,
    // expanded to RGB afterwards from the end of the buffer backwards.
    size_t row_bytes = (size_t)*width * (gray16 ? 2 : 3);
    if (png_get_rowbytes(png, info) != row_bytes) png_error(png, "unexpected row layout after conversion to RGB");
    buffer = (unsigned char *)malloc((size_t)*width * *height * 3);
    rows = (png_bytep *)malloc(sizeof(png_bytep) * *height);
    if (!buffer || !rows) png_error(png, "out of memory");
    for (unsigned y = 0; y < *height; y++) rows[y] = buffer + (size_t)y * row_bytes;
    png_read_image(png, rows);
    png_read_end(png, NULL);
    if (gray16) {
        for (size_t i = (size_t)*width * *height; i-- > 0;) {
            unsigned value = (unsigned)buffer[2 * i] << 8 | buffer[2 * i + 1];
            unsigned char clipped = value > 255 ? 255 : (unsigned char)value;
            buffer[3 * i] = buffer[3 * i + 1] = buffer[3 * i + 2] = clipped;
        }
    }
    free(rows);
    png_destroy_read_struct(&png, &info, NULL);
    *pixels = buffer;
    return 0;
}
