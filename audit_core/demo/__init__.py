"""The demo: a mid-size hospital's made-up exports, and the monthly story `mengui demo` tells with them."""
