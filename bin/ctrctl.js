#!/usr/bin/env node
import '../dist/cli/ctrctl/bundle/main.js';
