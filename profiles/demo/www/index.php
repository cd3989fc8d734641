<?php
// pi-imager demo site, served from the USB drive
echo 'Hello from ', gethostname(), "\n";
