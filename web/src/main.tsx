/** The page's entry: mounts the app into #app. Bundled by web/build.ts (esbuild) with its stylesheet. */
import { render } from 'preact';
import { App } from './App.js';
import './styles.css';

render(<App />, document.getElementById('app')!);
