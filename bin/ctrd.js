#!/usr/bin/env node
import '../dist/cli/ctrd/main.js';
