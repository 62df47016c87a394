/*
 * wm_variants.h: `audiomus-xcode watermark variants` (wm_variants.c).
 */
#ifndef AM_WM_VARIANTS_H
#define AM_WM_VARIANTS_H

/* argv[0] = "watermark", argv[1] = "variants"; returns the exit status. */
int wm_variants_main(int argc, char **argv);

#endif
