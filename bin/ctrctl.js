#!/usr/bin/env node
import '../dist/cli/ctrctl/main.js';
