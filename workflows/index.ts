/** Every workflow the trading worker runs; the bundle entry point. */
export { TradingSaga } from './trading-saga.js';
export { MarketControls } from './market-controls.js';
