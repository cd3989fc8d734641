<?php
// The blog's front page stands in for WordPress: enough to show PHP-FPM answering.
header('Content-Type: text/plain; charset=utf-8');
printf("Hello from %s, PHP %s\n", gethostname(), PHP_VERSION);
